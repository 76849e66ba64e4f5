"""Hoso's security kernel: identity, sessions, policy, crypto. Knows nothing about cases."""
