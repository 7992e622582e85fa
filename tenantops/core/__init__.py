"""Pure decisions: the bot model, rendering, diff, plans, drift and redaction.

Nothing here touches the network, Redis, the disk, the clock or a terminal."""
