"""Models of ``apps.billing``: Plans, subscriptions and Stripe webhooks (public schema)."""
