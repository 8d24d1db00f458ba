"""hashlib_tutorial."""
