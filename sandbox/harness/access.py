"""Which model endpoint and key a harness gets: a LiteLLM-compatible gateway for all, or the
direct provider key of the API the harness speaks. The result goes into that one sandbox's
environment (each adapter maps it to its own base-URL setting), never into this process's."""

from pydantic import BaseModel, SecretStr

from sandbox.harness.protocol import Harness, ModelAccess


class ModelEndpoints(BaseModel):
    """The model endpoints an operator configured."""

    gateway_url: str | None = None
    """A LiteLLM-compatible proxy (`LITELLM_API_BASE`); when set, every harness uses it."""
    gateway_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    anthropic_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None

    def access_for(self, harness: Harness) -> ModelAccess:
        """The endpoint and key `harness` gets."""
        if self.gateway_url:
            return ModelAccess(base_url=self.gateway_url, api_key=self.gateway_key, gateway=True)
        if harness.provider == "anthropic":
            return ModelAccess(base_url=self.anthropic_base_url, api_key=self.anthropic_api_key)
        return ModelAccess(base_url=self.openai_base_url, api_key=self.openai_api_key)
