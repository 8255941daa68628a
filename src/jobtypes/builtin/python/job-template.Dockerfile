FROM {{ base_image }}

{% for env_key, env_value in env_vars.items() %}
ENV {{ env_key }} "{{ env_value }}"
{% endfor %}

{% if manifest.system_dependencies and manifest.system_dependencies|length > 0 %}
RUN apt-get update -y && apt-get install -y {{ manifest.system_dependencies | join(' ') }} && rm -rf /var/lib/apt/lists/*
{% endif %}

WORKDIR /src/job
COPY . /src/job/
{% if requirements_file %}
# Install the job's requirements in its own environment
RUN python3 -m venv /src/job-venv &&\
    /src/job-venv/bin/pip install --disable-pip-version-check --no-input -r "{{ requirements_file }}" ||\
    { echo ">requirements_failed<"; exit 1; }
ENV PATH "/src/job-venv/bin:$PATH"
{% endif %}

LABEL strata-component="job"
ENV JOB_NAME "{{ manifest.name }}"
ENV JOB_VERSION "{{ manifest.version }}"
ENV GIT_VERSION "{{ git_version }}"
ENV DEPLOYED_BY_STRATA_VERSION "{{ deployed_by_racetrack_version }}"
ENV JOB_TYPE_VERSION "{{ job_type_version }}"
