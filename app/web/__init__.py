"""Pages for people: one package per area (its blueprint, routes, forms), and what they share."""
