"""The team: members of a brand with shifts, who works on which post, and whether the queue is in time."""
