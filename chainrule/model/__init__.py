"""Networks a user trains: a Sequential with a cost, the examples-first boundary, builders."""
