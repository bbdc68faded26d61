"""packages stage."""
