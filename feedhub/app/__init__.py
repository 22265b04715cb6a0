"""The application: wires the stages together; nothing of feedhub imports it."""
