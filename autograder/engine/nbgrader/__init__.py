"""nbgrader's pipeline, contained: the Execute preprocessor, fairness fixes, feedback, inert output,
the export plugin and the submission exporter (named in nbgrader_config.py).
"""
