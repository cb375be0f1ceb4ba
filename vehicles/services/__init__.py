"""Flows that mix the database and Smartcar, one module per flow: connect, tokens (the choke point), vehicle_data,
commands, disconnect. Views, tasks, admin actions and commands call these."""
