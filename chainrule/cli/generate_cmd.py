"""``chainrule generate``: continue a text with a language model saved by ``train --save``."""

from __future__ import annotations

from chainrule.cli.lm_cmd import add_generate_args, cmd_generate
from chainrule.cli.main import register_command

register_command("generate", cmd_generate, add_generate_args, "continue a text with a saved LM")
