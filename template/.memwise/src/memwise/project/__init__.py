"""What memwise reads of the project and the machine: its settings, answers, locks, the
Pythons it runs on, the options a session takes. No session's work is done here."""
