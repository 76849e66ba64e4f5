"""What the home page shows each role, with its server-side charts."""
