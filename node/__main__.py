"""``python -m node`` does what ``hubnet-node`` does (handy before the script is on PATH)."""

from hubnet.node.cli import main

if __name__ == "__main__":
    main(prog_name="hubnet-node")
