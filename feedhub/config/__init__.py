"""The config file: read and validated into frozen settings, and edited in place."""
