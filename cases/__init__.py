"""The domain: reviews, petitions, coordination, conclusions."""
