"""hubnet's aggregator side: fetch -> parse -> authorise -> store -> link -> serve."""
