from django.urls import path

from demo import views

app_name = "demo"

urlpatterns = [
    path("forecast", views.forecast, name="forecast"),
    path("echo", views.echo, name="echo"),
    path("vault/message", views.vault_message, name="vault-message"),
    path("vault/notes", views.vault_notes, name="vault-notes"),
    path("me", views.me, name="me"),
    path("profile.yaml", views.profile_yaml, name="profile-schema"),
    path("public.yaml", views.public_yaml, name="public-schema"),
    path("vault.yaml", views.vault_yaml, name="vault-schema"),
]
