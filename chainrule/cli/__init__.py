"""The ``chainrule`` command line: train, predict, gradcheck and more."""
