"""The ``tpstui`` subcommands, one module each; ``tpstui.cli`` wires them into argparse."""
