FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
COPY jobs ./jobs
COPY db ./db
RUN pip install --no-cache-dir . && useradd --system --uid 10001 lifecycle
USER lifecycle
# On an existing platform, mount its mapping (read-only) and name it:
#   -v ./platform.toml:/etc/lifecycle/platform.toml:ro -e LIFECYCLE_PLATFORM_FILE=/etc/lifecycle/platform.toml
# with LIFECYCLE_DATABASE_URL naming the platform's database (docker-compose.adopt.yml).
ENTRYPOINT ["lifecycle"]
CMD ["worker"]
