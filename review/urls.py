from django.urls import path, register_converter

from . import views, views_approval, views_band, views_evidence, views_groups, views_partner
from . import views_supervisor as supervisor


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
    path("same-description/", views_evidence.same_description, name="review-same-description"),
    path("items/<int:pk>/", views.item, name="review-item"),
    path("items/<int:pk>/claim/", views.claim, name="review-claim"),
    path("items/<int:pk>/decide/", views.decide, name="review-decide"),
]
image_urls = [
    path("images/<int:pk>/<derivative:size>", views.image_derivative, name="review-image"),
]
# Whole candidate groups: the overview, the group screen (GET shows, POST submits), undo and revert.
group_urls = [
    path("groups/", views_groups.overview, name="review-groups"),
    path("groups/<int:pk>/", views_groups.group, name="review-group"),
    path("groups/<int:pk>/hold/", views_groups.hold_group, name="review-group-hold"),
    path("groups/<int:pk>/undo/", views_groups.undo_group, name="review-group-undo"),
    path("supervisor/batches/revert/", views_groups.revert_batch, name="review-batch-revert"),
]
urlpatterns = queue_urls + item_urls + image_urls + group_urls

# Supervisors: the decision log, reverts, figures, charts, the chain check and exports.
supervisor_urls = [
    path("supervisor/", supervisor.decisions, name="review-supervisor-decisions"),
    path("supervisor/decisions/<int:pk>/revert/", supervisor.revert, name="review-supervisor-revert"),
    path("supervisor/revert-period/", supervisor.revert_period, name="review-supervisor-revert-period"),
    path("supervisor/figures/", supervisor.figures, name="review-supervisor-figures"),
    path("supervisor/charts/", supervisor.charts, name="review-supervisor-charts"),
    path("supervisor/audit/", supervisor.audit, name="review-supervisor-audit"),
    path("supervisor/exports/", supervisor.exports_page, name="review-supervisor-exports"),
    path("supervisor/exports/mapping/", supervisor.export_mapping, name="review-supervisor-export-mapping"),
    path("supervisor/exports/exact/", supervisor.export_exact, name="review-supervisor-export-exact"),
    path("supervisor/exports/premis.xml", supervisor.export_premis, name="review-supervisor-export-premis"),
    path(
        "supervisor/exports/partner/<int:pk>/",
        views_partner.export_partner,
        name="review-supervisor-export-partner",
    ),
]
urlpatterns += supervisor_urls

calibration_urls = [
    path("supervisor/calibration/", supervisor.calibration_page, name="review-supervisor-calibration"),
    path(
        "supervisor/calibration/<int:pk>/apply/",
        supervisor.calibration_apply,
        name="review-supervisor-calibration-apply",
    ),
    path(
        "supervisor/calibration/<int:pk>/auto/",
        supervisor.calibration_auto,
        name="review-supervisor-calibration-auto",
    ),
]
urlpatterns += calibration_urls

rereview_urls = [
    path("supervisor/rereview/", supervisor.rereview_samples, name="review-rereview-samples"),
    path("supervisor/rereview/draw/", supervisor.rereview_draw, name="review-rereview-draw"),
    path("supervisor/rereview/<int:pk>/", supervisor.rereview_sample, name="review-rereview"),
    path("rereview/<int:pk>/next/", supervisor.rereview_next, name="review-rereview-next"),
    path("rereview/items/<int:pk>/", supervisor.rereview_item, name="review-rereview-item"),
]
urlpatterns += rereview_urls

approval_urls = [
    path("supervisor/approvals/", views_approval.approvals, name="review-approvals"),
    path("supervisor/approvals/<int:pk>/approve/", views_approval.approve, name="review-approve"),
    path("supervisor/approvals/<int:pk>/decline/", views_approval.decline, name="review-decline"),
]
urlpatterns += approval_urls

band_urls = [
    path("supervisor/bands/", views_band.band_page, name="review-supervisor-bands"),
    path("supervisor/bands/accept/", views_band.band_accept, name="review-supervisor-band-accept"),
    path("supervisor/bands/<uuid:batch>/", views_band.band_batch, name="review-supervisor-band-batch"),
    path("supervisor/bands/<uuid:batch>/approve/", views_band.band_approve, name="review-band-approve"),
    path("supervisor/bands/<uuid:batch>/decline/", views_band.band_decline, name="review-band-decline"),
    path("supervisor/bands/<uuid:batch>/revert/", views_band.band_revert, name="review-band-revert"),
]
urlpatterns += band_urls
