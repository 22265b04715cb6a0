"""Pure decisions: no I/O, no clock of their own; plain values in, intents out."""
