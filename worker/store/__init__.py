"""The store of tickets, runs, run events, outcomes and webhook deliveries."""
