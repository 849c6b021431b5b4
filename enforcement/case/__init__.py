"""The case: its models, the machine shared by every procedure family, the parameter
files a case runs under, and the calendar export of its deadlines. Pure: no I/O, no clock."""
