"""The agent's cron controller: fires the cron triggers of the pipelines assigned to it."""
