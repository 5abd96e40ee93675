"""The tracker layer: one provider interface, one module per tracker, a registry of slugs."""
