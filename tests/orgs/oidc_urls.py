"""The project's URLs plus mozilla-django-oidc's, as they are mounted when OIDC_ISSUER is set at start-up."""

from django.urls import include, path

from redmist.urls import urlpatterns as project_urlpatterns

urlpatterns = [*project_urlpatterns, path("oidc/", include("mozilla_django_oidc.urls"))]
