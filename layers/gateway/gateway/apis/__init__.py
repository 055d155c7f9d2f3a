"""One package per front door (see STYLE.md's layout); each is a codec over the one routing core."""
