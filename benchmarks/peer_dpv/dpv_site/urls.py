"""django-phone-verify's router (``/api/phone/register``, ``/api/phone/verify``) and ``/healthz``."""

from django.http import HttpResponse
from django.urls import include, path


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz", healthz),
    path("api/", include("phone_verify.urls")),
]
