"""gunicorn settings read by default from the working directory (`gunicorn wsgi:app`).

The access log format leaves out what a misbehaving client could put credentials in: the query
string (``%(U)s`` is the path alone) and the Basic user name (``%(u)s``), and the Referer.
Workers, bind address and log destinations stay on the command line or in
``GUNICORN_CMD_ARGS``.
"""

access_log_format = '%(h)s - - %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)ss "%(a)s"'
