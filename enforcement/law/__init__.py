"""The law of time limits, pure: periods, calendars and each forum's counting rules."""
