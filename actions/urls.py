"""End-user pages, OAuth sign-in and the agent API.

GPT ids and operation ids are slugs: `slug` refuses a NUL, which PostgreSQL could not query.
"""

from django.urls import path

from actions import api, oauth_views, views

urlpatterns = [
    path("g/<slug:gpt_id>/", views.gpt_page, name="gpt-page"),
    path("g/<slug:gpt_id>/run/<slug:operation_id>/", views.run_operation, name="run-operation"),
    path("connections/", oauth_views.connections, name="connections"),
    path("connections/<int:connection_id>/sign-out/", oauth_views.sign_out, name="sign-out"),
    path(
        "aip/<slug:gpt_id>/actions/<int:action_id>/sign-in/",
        oauth_views.sign_in,
        name="sign-in",
    ),
    path("aip/<slug:gpt_id>/oauth/callback", oauth_views.oauth_callback, name="oauth-callback"),
    # Any id reaches the API's views, so that even a 404 is answered in JSON.
    path("api/v1/gpts/<str:gpt_id>/tools", api.tools, name="api-tools"),
    path("api/v1/gpts/<str:gpt_id>/invoke", api.invoke, name="api-invoke"),
]
