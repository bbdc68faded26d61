"""cds stage."""
