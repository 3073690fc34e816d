"""What comes in: training jobs' webhook and people's chat messages, both into the inbox."""
