"""End-user pages, OAuth sign-in and the agent API."""

from django.urls import path

from actions import api, oauth_views, views

urlpatterns = [
    path("g/<str:gpt_id>/", views.gpt_page, name="gpt-page"),
    path("g/<str:gpt_id>/run/<str:operation_id>/", views.run_operation, name="run-operation"),
    path("connections/", oauth_views.connections, name="connections"),
    path("connections/<int:connection_id>/sign-out/", oauth_views.sign_out, name="sign-out"),
    path(
        "aip/<str:gpt_id>/actions/<int:action_id>/sign-in/",
        oauth_views.sign_in,
        name="sign-in",
    ),
    path("aip/<str:gpt_id>/oauth/callback", oauth_views.oauth_callback, name="oauth-callback"),
    path("api/v1/gpts/<str:gpt_id>/tools", api.tools, name="api-tools"),
    path("api/v1/gpts/<str:gpt_id>/invoke", api.invoke, name="api-invoke"),
]
