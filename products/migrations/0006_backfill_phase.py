from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("products", "0005_old_catalogue_attributes"),
    ]

    operations = [
        migrations.AddField(
            model_name="backfillrun",
            name="phase",
            field=models.CharField(
                blank=True,
                choices=[
                    ("reading", "reading: the file is read, checked and staged"),
                    ("writing", "writing: the catalogue is written"),
                ],
                db_default="",
                default="",
                help_text="What a running import is doing (empty before it starts).",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="backfillrun",
            name="progress",
            field=models.FloatField(
                default=0.0,
                help_text="The fraction of the current phase done, 0 to 1: of the file read "
                "while reading, of the rows written while writing; 1 once succeeded or partial.",
            ),
        ),
    ]
