FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
COPY jobs ./jobs
COPY db ./db
RUN pip install --no-cache-dir . && useradd --system --uid 10001 lifecycle
USER lifecycle
ENTRYPOINT ["lifecycle"]
CMD ["worker"]
