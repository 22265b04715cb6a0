"""Fetching sources over HTTP(S) or from local files, politely and within limits."""
