from django.urls import path, register_converter

from . import views


class DerivativeConverter:
    regex = "preview|thumbnail"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(DerivativeConverter, "derivative")

queue_urls = [
    path("", views.queue, name="review-queue"),
    path("start/", views.start, name="review-start"),
    path("undo/", views.undo, name="review-undo"),
]
item_urls = [
    path("items/<int:pk>/", views.item, name="review-item"),
    path("items/<int:pk>/claim/", views.claim, name="review-claim"),
    path("items/<int:pk>/decide/", views.decide, name="review-decide"),
]
image_urls = [
    path("images/<int:pk>/<derivative:size>", views.image_derivative, name="review-image"),
]
urlpatterns = queue_urls + item_urls + image_urls
