from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from .auth import LoginView, limited_login
from .health import health

# Admin's login page passes through the same limited backend; this makes it say so (429) when locked out.
admin.site.login = limited_login(admin.site.login)

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="catalogue-collections"), name="home"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("api/", include("api.urls")),
    path("review/", include("review.urls")),
    path("licensing/", include("licensing.urls")),
    path("iiif/3/", include("iiif.urls")),
    path("", include("dedup.urls")),
    path("", include("catalogue.urls")),
]
