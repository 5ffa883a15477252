"""``python -m hubnet.crawler`` does what ``hubnet-crawler`` does."""

from hubnet.crawler.cli import main

if __name__ == "__main__":
    main(prog_name="hubnet-crawler")
