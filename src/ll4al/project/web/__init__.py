"""``ll4al label PROJECT``: the open batch as a labeling page in the browser (Flask).

``create_app`` builds the application (the page, its small JSON API, the images and a status
page); ``serve`` runs it on 127.0.0.1 until Ctrl-C. Flask is the optional ``web`` extra
(``pip install "ll4al[web]"``), so importing this package without it fails.
"""

from ll4al.project.web.app import create_app, serve

__all__ = ["create_app", "serve"]
