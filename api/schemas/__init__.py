"""Marshmallow schemas: the single source of truth for input validation, output and Swagger models."""
