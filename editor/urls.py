from django.urls import path

from editor import views

app_name = "editor"

# GPT ids are slugs (`g-` and 10 URL-safe characters): `slug` keeps a NUL away from PostgreSQL.
urlpatterns = [
    path("", views.gpt_list, name="gpt-list"),
    path("new/", views.gpt_create, name="gpt-create"),
    path("<slug:gpt_id>/", views.gpt_edit, name="gpt-edit"),
    path("<slug:gpt_id>/delete/", views.gpt_delete, name="gpt-delete"),
    path("<slug:gpt_id>/actions/new/", views.action_create, name="action-create"),
    path("<slug:gpt_id>/actions/<int:action_id>/", views.action_edit, name="action-edit"),
    path("<slug:gpt_id>/actions/<int:action_id>/auth/", views.action_auth, name="action-auth"),
    path(
        "<slug:gpt_id>/actions/<int:action_id>/delete/", views.action_delete, name="action-delete"
    ),
]
