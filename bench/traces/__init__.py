"""Call-arrival traces for the scaling simulator."""
