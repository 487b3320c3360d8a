"""What each training framework calls the canonical config keys, for showing fixes in its own idiom."""
