# pagination
