"""Text, markdown and JSON for people and machines; pure, the CLI decides where it goes."""
