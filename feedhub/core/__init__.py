"""Values and helpers that every stage may use; imports nothing else of feedhub."""
