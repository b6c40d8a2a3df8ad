"""Linear as a way in: its webhook (signature, timestamp window, delivery id, triggers)."""
